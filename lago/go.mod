module github.com/lifeos/life/lago

go 1.25.0

require (
	github.com/klauspost/compress v1.20.3
	github.com/lifeos/life/aios v0.0.0-00010101000000-000000000000
	github.com/spf13/cobra v1.10.2
	github.com/zeebo/blake3 v0.2.4
	go.etcd.io/bbolt v1.5.0
	golang.org/x/sys v0.45.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/klauspost/cpuid/v2 v2.0.12 // indirect
	github.com/spf13/pflag v1.0.10 // indirect
)

replace github.com/lifeos/life/aios => ../aios
