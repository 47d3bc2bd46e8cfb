package provider_test

import (
	"fmt"

	"github.com/lifeos/life/arcan/provider"
)

func ExampleOpen() {
	p, err := provider.Open("mock", provider.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Name())
	_, err = provider.Open("gpt-9", provider.Options{})
	fmt.Println(err)
	// Output:
	// mock
	// provider: unknown provider "gpt-9" (want one of [mock anthropic openai])
}
