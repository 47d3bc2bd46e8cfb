package jws_test

import (
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/lifeos/life/anima/did"
	"github.com/lifeos/life/anima/jws"
)

func ExampleParse() {
	key, _ := btcec.NewPrivateKey()
	signed, err := jws.SignES256K(key, map[string]any{"typ": "JWT"}, []byte(`{"hello":"world"}`))
	if err != nil {
		panic(err)
	}
	tok, err := jws.Parse(signed) // strict: no verification yet
	if err != nil {
		panic(err)
	}
	pub, _ := did.FromPublic(key.PubKey())
	fmt.Println(tok.Header.Alg, tok.Verify(pub) == nil, string(tok.Payload))
	// Output: ES256K true {"hello":"world"}
}
