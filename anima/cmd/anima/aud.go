package main

import (
	"encoding/json"
	"errors"

	"github.com/lifeos/life/anima/jws"
)

// firstAudience reads the first aud of an unverified token, for inspection
// when no --aud is given.
func firstAudience(tok string) (string, error) {
	t, err := jws.Parse(tok)
	if err != nil {
		return "", err
	}
	var c struct {
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(t.Payload, &c); err != nil {
		return "", err
	}
	var one string
	if json.Unmarshal(c.Aud, &one) == nil && one != "" {
		return one, nil
	}
	var many []string
	if json.Unmarshal(c.Aud, &many) == nil && len(many) > 0 && many[0] != "" {
		return many[0], nil
	}
	return "", errors.New("token has no aud")
}
