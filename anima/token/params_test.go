package token

import "github.com/lifeos/life/anima/seal"

// testParams keeps Argon2id cheap in tests.
var testParams = seal.Params{Time: 1, MemoryKiB: 64, Threads: 1}
