package did_test

import (
	"fmt"

	"github.com/lifeos/life/anima/did"
)

func ExampleResolve() {
	k, err := did.Resolve("did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv")
	if err != nil {
		panic(err)
	}
	fmt.Println(k.Type, k.Type.Alg())
	fmt.Println(k.JWK().X)
	// Output:
	// P-256 ES256
	// igrFmi0whuihKnj9R3Om1SoMph72wUGeFaBbzG2vzns
}
