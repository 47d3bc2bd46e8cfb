module github.com/lifeos/life/praxis

go 1.25.5

require github.com/lifeos/life/aios v0.0.0-00010101000000-000000000000

require (
	github.com/bmatcuk/doublestar/v4 v4.9.1 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/klauspost/cpuid/v2 v2.0.12 // indirect
	github.com/landlock-lsm/go-landlock v0.7.0 // indirect
	github.com/mark3labs/mcp-go v1.2.1 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	github.com/zeebo/blake3 v0.2.4 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.40.0 // indirect
)

replace github.com/lifeos/life/aios => ../aios
