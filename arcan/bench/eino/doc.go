// Package eino benchmarks the same scripted agent turn (one tool call,
// then an answer) through arcan's loop and through the ReAct agent of
// github.com/cloudwego/eino with a fake chat model, in the same run. It is
// its own module so that arcan never depends on eino.
//
//	cd arcan/bench/eino && go test -run '^$' -bench . -benchtime 2s
package eino
