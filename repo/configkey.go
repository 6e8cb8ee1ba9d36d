package repo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// This file implements `node config KEY [VALUE] [--json]`: dotted keys such
// as Addresses.API address a field of Config. Key segments match the field
// names exactly or, failing that, case-insensitively.

// configTree turns c into nested maps, keeping numbers as json.Number.
func configTree(c *Config) (map[string]any, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	var tree map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	return tree, nil
}

// resolveKey walks key through tree and returns the map holding the last
// segment, that segment's canonical name and the canonical dotted key.
func resolveKey(tree map[string]any, key string) (parent map[string]any, name, canon string, err error) {
	if key == "" {
		return nil, "", "", fmt.Errorf("empty config key: name one such as Addresses.API: %w", ErrConfigKey)
	}
	parts := strings.Split(key, ".")
	cur := any(tree)
	var done []string
	for _, p := range parts {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, "", "", fmt.Errorf("unknown config key %q: %s is a %s and has no fields: %w", key, strings.Join(done, "."), describeJSON(cur), ErrConfigKey)
		}
		match, ok := findField(obj, p)
		if !ok {
			where := "the config"
			if len(done) > 0 {
				where = strings.Join(done, ".")
			}
			fields := slices.Sorted(maps.Keys(obj))
			return nil, "", "", fmt.Errorf("unknown config key %q: %s has %s: %w", key, where, strings.Join(fields, ", "), ErrConfigKey)
		}
		parent, name = obj, match
		done = append(done, match)
		cur = obj[match]
	}
	return parent, name, strings.Join(done, "."), nil
}

func findField(obj map[string]any, name string) (string, bool) {
	if _, ok := obj[name]; ok {
		return name, true
	}
	for k := range obj {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

func describeJSON(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// getConfigValue returns the JSON value at key. The private key is never
// returned: reading Identity yields only the peer ID.
func getConfigValue(c *Config, key string) (json.RawMessage, error) {
	tree, err := configTree(c)
	if err != nil {
		return nil, err
	}
	parent, name, canon, err := resolveKey(tree, key)
	if err != nil {
		return nil, err
	}
	switch canon {
	case "Identity.PrivKey":
		return nil, fmt.Errorf("the private key is not shown by `node config`; it is in the repository's config file: %w", ErrConfigKey)
	case "Identity":
		return json.Marshal(map[string]string{"PeerID": c.Identity.PeerID})
	}
	return json.Marshal(parent[name])
}

// setConfigValue returns a validated copy of c with key set to value. With
// asJSON the value is parsed as JSON; otherwise it is a string, and only
// string fields accept it.
func setConfigValue(c *Config, key, value string, asJSON bool) (*Config, error) {
	tree, err := configTree(c)
	if err != nil {
		return nil, err
	}
	parent, name, canon, err := resolveKey(tree, key)
	if err != nil {
		return nil, err
	}
	if canon == "Identity" || strings.HasPrefix(canon, "Identity.") {
		return nil, fmt.Errorf("%s cannot be changed with `node config`: the identity is made by `node init`: %w", canon, ErrConfigKey)
	}
	var v any
	if asJSON {
		dec := json.NewDecoder(strings.NewReader(value))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("value for %s is not valid JSON (%v): quote strings, e.g. '\"text\"', or drop --json: %w", canon, err, ErrConfigValue)
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, fmt.Errorf("value for %s has data after its JSON value: %w", canon, ErrConfigValue)
		}
	} else {
		if cur := parent[name]; cur != nil {
			if _, ok := cur.(string); !ok {
				return nil, fmt.Errorf("%s holds a %s: pass the value as JSON with --json, e.g. `node config --json %s %s`: %w",
					canon, describeJSON(cur), canon, exampleJSON(cur), ErrConfigValue)
			}
		}
		v = value
	}
	parent[name] = v
	b, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	var out Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = canon
			}
			return nil, fmt.Errorf("%s wants a %s, not a JSON %s: %w", field, jsonKind(te.Type), te.Value, ErrConfigValue)
		}
		return nil, fmt.Errorf("%s: %v: %w", canon, err, ErrConfigValue)
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return &out, nil
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return t.String()
}

func exampleJSON(cur any) string {
	switch cur.(type) {
	case bool:
		return "true"
	case json.Number:
		return "42"
	case []any:
		return `'["a","b"]'`
	}
	return `'{...}'`
}

// Value returns the JSON value at a dotted key, such as Addresses.API.
// Reading needs no lock: use it on a config from ReadConfig.
func (c *Config) Value(key string) (json.RawMessage, error) { return getConfigValue(c, key) }
