module github.com/lifeos/life/arcan

go 1.25.5

require github.com/lifeos/life/aios v0.0.0-00010101000000-000000000000

replace github.com/lifeos/life/aios => ../aios

require (
	github.com/lifeos/life/anima v0.0.0-00010101000000-000000000000
	github.com/lifeos/life/lago v0.0.0-00010101000000-000000000000
	github.com/lifeos/life/praxis v0.0.0-00010101000000-000000000000
	github.com/spf13/cobra v1.10.2
)

require (
	github.com/bmatcuk/doublestar/v4 v4.9.1 // indirect
	github.com/btcsuite/btcd/btcec/v2 v2.3.5 // indirect
	github.com/decred/dcrd/dcrec/secp256k1/v4 v4.0.1 // indirect
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	github.com/google/jsonschema-go v0.4.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/klauspost/cpuid/v2 v2.0.12 // indirect
	github.com/landlock-lsm/go-landlock v0.7.0 // indirect
	github.com/mark3labs/mcp-go v1.2.1 // indirect
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.2 // indirect
	github.com/spf13/cast v1.7.1 // indirect
	github.com/spf13/pflag v1.0.10 // indirect
	github.com/yosida95/uritemplate/v3 v3.0.2 // indirect
	github.com/zeebo/blake3 v0.2.4 // indirect
	go.etcd.io/bbolt v1.5.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/crypto v0.55.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.41.0 // indirect
	kernel.org/pub/linux/libs/security/libcap/psx v1.2.77 // indirect
)

replace (
	github.com/lifeos/life/anima => ../anima
	github.com/lifeos/life/lago => ../lago
	github.com/lifeos/life/praxis => ../praxis
)

require (
	github.com/lifeos/life/autonomic v0.0.0-00010101000000-000000000000
	github.com/lifeos/life/bridges v0.0.0-00010101000000-000000000000
)

replace (
	github.com/lifeos/life/autonomic => ../autonomic
	github.com/lifeos/life/bridges => ../bridges
)
