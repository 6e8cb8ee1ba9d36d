package validate

import (
	"encoding/json"
	"testing"
)

// Codes survive a JSON round trip, so API clients can read them back.
func TestCodeText(t *testing.T) {
	for c := Valid; c <= BadCreator+1; c++ {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back Code
		if err := json.Unmarshal(b, &back); err != nil || back != c {
			t.Fatalf("%s: %s gave %v, %v", c, b, back, err)
		}
	}
	if _, err := ParseCode("NOT_A_CODE"); err == nil {
		t.Fatal("an unknown code parsed")
	}
}
