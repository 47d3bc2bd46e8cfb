module github.com/lifeos/life/praxis

go 1.25.5

require (
	github.com/bmatcuk/doublestar/v4 v4.9.1
	github.com/landlock-lsm/go-landlock v0.7.0
	github.com/lifeos/life/aios v0.0.0-00010101000000-000000000000
	github.com/zeebo/blake3 v0.2.4
)

require (
	github.com/klauspost/cpuid/v2 v2.0.12 // indirect
	golang.org/x/sys v0.40.0 // indirect
	kernel.org/pub/linux/libs/security/libcap/psx v1.2.77 // indirect
)

replace github.com/lifeos/life/aios => ../aios
