package api_test

import (
	"fmt"
	"io"
	"net/http/httptest"

	"github.com/lifeos/life/autonomic/api"
	"github.com/lifeos/life/autonomic/controller"
)

// The handler answers the gating of any session, events or not.
func ExampleNewHandler() {
	c, _ := controller.New(controller.DefaultConfig())
	srv := httptest.NewServer(api.NewHandler(controller.NewHub(c), api.Options{}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/v1/gating/new-session")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(string(body))
	// Output:
	// {"advice":[],"allow_network":true,"allow_shell":true,"allow_tools":true,"denied_tools":[],"economic_mode":"sovereign","max_tokens":0,"max_tool_calls_per_turn":0,"operating_mode":"execute","reasons":[]}
}
