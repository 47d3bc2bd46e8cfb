module github.com/lifeos/life/anima

go 1.25.0

require (
	github.com/btcsuite/btcd/btcec/v2 v2.3.5
	github.com/go-jose/go-jose/v4 v4.1.9
	github.com/lifeos/life/aios v0.0.0-00010101000000-000000000000
	github.com/spf13/cobra v1.10.2
	github.com/zeebo/blake3 v0.2.4
	golang.org/x/crypto v0.55.0
	golang.org/x/sys v0.47.0
	golang.org/x/term v0.45.0
)

require (
	github.com/decred/dcrd/dcrec/secp256k1/v4 v4.0.1 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/klauspost/cpuid/v2 v2.0.12 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
)

replace github.com/lifeos/life/aios => ../aios
