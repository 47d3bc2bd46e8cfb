module github.com/lifeos/life/spaces

go 1.25.0
