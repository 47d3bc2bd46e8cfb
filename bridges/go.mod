module github.com/lifeos/life/bridges

go 1.25.0

require (
	github.com/lifeos/life/aios v0.0.0-00010101000000-000000000000
	github.com/lifeos/life/autonomic v0.0.0-00010101000000-000000000000
	github.com/lifeos/life/lago v0.0.0-00010101000000-000000000000
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/klauspost/cpuid/v2 v2.0.12 // indirect
	github.com/zeebo/blake3 v0.2.4 // indirect
	go.etcd.io/bbolt v1.5.0 // indirect
	golang.org/x/sys v0.45.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace (
	github.com/lifeos/life/aios => ../aios
	github.com/lifeos/life/autonomic => ../autonomic
	github.com/lifeos/life/lago => ../lago
)
