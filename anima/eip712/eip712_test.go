package eip712

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
)

const mail = `{
  "types": {
    "EIP712Domain": [{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],
    "Person": [{"name":"name","type":"string"},{"name":"wallet","type":"address"}],
    "Mail": [{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]
  },
  "primaryType": "Mail",
  "domain": {"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
  "message": {"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
              "to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
              "contents":"Hello, Bob!"}
}`

// The worked example of the EIP-712 specification.
func TestSpecMailExample(t *testing.T) {
	td, err := Parse([]byte(mail))
	if err != nil {
		t.Fatal(err)
	}
	if typ, _ := td.EncodeType("Mail"); typ != "Mail(Person from,Person to,string contents)Person(string name,address wallet)" {
		t.Fatalf("encodeType %s", typ)
	}
	ds, err := td.HashStruct("EIP712Domain", td.Domain)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := td.HashStruct("Mail", td.Message)
	if err != nil {
		t.Fatal(err)
	}
	h, err := td.Hash()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"domain separator", hex.EncodeToString(ds[:]), "f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f"},
		{"hashStruct(message)", hex.EncodeToString(ms[:]), "c52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e"},
		{"digest", hex.EncodeToString(h[:]), "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"},
	} {
		if c.got != c.want {
			t.Errorf("%s %s, want %s", c.name, c.got, c.want)
		}
	}
}

func TestRejects(t *testing.T) {
	repl := func(old, new string) string { return strings.Replace(mail, old, new, 1) }
	tests := []struct{ name, doc string }{
		{"missing field", repl(`"contents":"Hello, Bob!"`, `"x":"y"`)},
		{"extra field", repl(`"contents":"Hello, Bob!"`, `"contents":"Hello, Bob!","extra":1`)},
		{"bad checksum", repl("0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD827")},
		{"short address", repl("0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", "0xCD2a")},
		{"negative uint", repl(`"chainId":1`, `"chainId":-1`)},
		{"uint too big", repl(`"chainId":1`, `"chainId":"0x1`+strings.Repeat("0", 64)+`"`)},
		{"fractional", repl(`"chainId":1`, `"chainId":1.5`)},
		{"unknown type", repl(`"type":"string"}]`, `"type":"strin"}]`)},
		{"no domain type", repl(`"EIP712Domain"`, `"Domain"`)},
		{"unknown primary", repl(`"primaryType": "Mail"`, `"primaryType": "Nope"`)},
		{"struct given a string", repl(`"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"}`, `"from":"Cow"`)},
		{"unknown top-level key", repl(`"primaryType"`, `"x":1,"primaryType"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.doc)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestIntegerEncoding(t *testing.T) {
	td := &TypedData{Types: map[string][]Field{}}
	tests := []struct {
		typ  string
		v    any
		want string // last bytes, hex
		bad  bool
	}{
		{"uint8", "255", "ff", false},
		{"uint8", "256", "", true},
		{"int8", "-128", "ff80", false},
		{"int8", "-129", "", true},
		{"int8", "127", "7f", false},
		{"int8", "128", "", true},
		{"uint256", big.NewInt(1), "01", false},
		{"uint256", "0x10", "10", false},
		{"uint256", "010", "", true},
		{"uint256", "1_000", "", true},
		{"int8", "-0b1", "", true},
		{"int8", "-0o7", "", true},
		{"uint8", "+5", "", true},
		{"uint8", "0X10", "", true},
		{"uint8", "0x", "", true},
		{"uint8", "", "", true},
		{"uint8", " 5", "", true},
		{"int8", "-0x10", "f0", false},
		{"uint8", "0", "00", false},
		{"uint8", json.Number("1e1"), "", true},
		{"bytes4", "0x01020304", "", false},
		{"bytes4", "0x0102", "", true},
		{"bytes33", "0x00", "", true},
		{"uint7", "1", "", true},
		{"bool", "true", "", true},
	}
	for _, tt := range tests {
		out, err := td.encodeValue(tt.typ, tt.v, 0)
		if tt.bad != (err != nil) {
			t.Errorf("%s %v: err %v", tt.typ, tt.v, err)
			continue
		}
		if tt.want != "" && !strings.HasSuffix(hex.EncodeToString(out[:]), tt.want) {
			t.Errorf("%s %v = %x", tt.typ, tt.v, out)
		}
	}
}

func TestRecursiveTypesBounded(t *testing.T) {
	doc := `{"types":{"EIP712Domain":[{"name":"name","type":"string"}],"Node":[{"name":"next","type":"Node"}]},
	  "primaryType":"Node","domain":{"name":"x"},"message":{"next":{"next":{"next":{}}}}}`
	if _, err := Parse([]byte(doc)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(mail))
	f.Add([]byte(`{"types":{"EIP712Domain":[]},"primaryType":"A","domain":{},"message":{}}`))
	f.Add([]byte(`{"types":{"EIP712Domain":[],"A":[{"name":"x","type":"uint8[][2]"}]},"primaryType":"A","domain":{},"message":{"x":[[1],[2]]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		td, err := Parse(b)
		if err != nil {
			return
		}
		h1, err := td.Hash()
		if err != nil {
			t.Fatalf("parsed data does not hash: %v", err)
		}
		h2, _ := td.Hash()
		if h1 != h2 {
			t.Fatal("hash not deterministic")
		}
	})
}

func TestNestedArraysBounded(t *testing.T) {
	typ := "uint8" + strings.Repeat("[]", 40)
	val := strings.Repeat("[", 40) + strings.Repeat("]", 40)
	doc := `{"types":{"EIP712Domain":[],"A":[{"name":"x","type":"` + typ + `"}]},"primaryType":"A","domain":{},"message":{"x":` + val + `}}`
	if _, err := Parse([]byte(doc)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v", err)
	}
}
