module github.com/lifeos/life/aios

go 1.25.0
