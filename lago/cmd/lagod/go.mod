module github.com/lifeos/life/lago/cmd/lagod

go 1.25.0

require (
	github.com/lifeos/life/aios v0.0.0-00010101000000-000000000000
	github.com/lifeos/life/anima v0.0.0-00010101000000-000000000000
	github.com/lifeos/life/lago v0.0.0-00010101000000-000000000000
)

require (
	github.com/btcsuite/btcd/btcec/v2 v2.3.5 // indirect
	github.com/decred/dcrd/dcrec/secp256k1/v4 v4.0.1 // indirect
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/klauspost/cpuid/v2 v2.0.12 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/spf13/pflag v1.0.10 // indirect
	github.com/zeebo/blake3 v0.2.4 // indirect
	go.etcd.io/bbolt v1.5.0 // indirect
	golang.org/x/crypto v0.55.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace (
	github.com/lifeos/life/aios => ../../../aios
	github.com/lifeos/life/anima => ../../../anima
	github.com/lifeos/life/lago => ../..
)
