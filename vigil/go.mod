module github.com/lifeos/life/vigil

go 1.25.0

require github.com/lifeos/life/aios v0.0.0-00010101000000-000000000000

replace github.com/lifeos/life/aios => ../aios
