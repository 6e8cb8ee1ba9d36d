package validate

import (
	"fmt"
	"slices"
)

// ParseCode is the inverse of Code.String.
func ParseCode(s string) (Code, error) {
	if i := slices.Index(names, s); i >= 0 {
		return Code(i), nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "CODE_%d", &n); err == nil && fmt.Sprintf("CODE_%d", n) == s {
		return Code(n), nil
	}
	return 0, fmt.Errorf("unknown validation code %q", s)
}

// UnmarshalText implements encoding.TextUnmarshaler (JSON clients of the
// ledger's API read codes back).
func (c *Code) UnmarshalText(b []byte) error {
	v, err := ParseCode(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}
