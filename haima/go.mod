module github.com/lifeos/life/haima

go 1.25.0
