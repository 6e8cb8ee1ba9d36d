// Package docs is the built-in "docs" chaincode: JSON documents under
// keys, enough to exercise reads, writes, conflicts and phantoms.
//
//	put KEY JSON          write a document (a blind write: no read)
//	get KEY               read a document
//	delete KEY            read (it must exist), then delete
//	patch KEY JSON        read, merge the JSON merge patch (RFC 7386), write
//	transfer KEY OWNER    read, check (a JSON object, not recalled, a different
//	                      owner), set "owner", write
//	recall SELECTOR       run a CouchDB selector query, then set "recall": true
//	                      and "recallDate" (the proposal's time, unix seconds)
//	                      on each match; returns the keys
//
// Documents must be JSON objects. Results are JSON.
package docs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"node/ledger/chaincode"
)

// Chaincode is the docs chaincode.
type Chaincode struct{}

// New returns the docs chaincode.
func New() Chaincode { return Chaincode{} }

var errUsage = errors.New("usage")

// Invoke implements chaincode.Chaincode.
func (Chaincode) Invoke(stub chaincode.Stub, fn string, args []string) ([]byte, error) {
	need := func(n int, usage string) error {
		if len(args) != n {
			return fmt.Errorf("%w: %s", errUsage, usage)
		}
		return nil
	}
	switch fn {
	case "put":
		if err := need(2, "put KEY JSON"); err != nil {
			return nil, err
		}
		doc, err := object(args[1])
		if err != nil {
			return nil, err
		}
		b, _ := encode(doc)
		return b, stub.PutState(args[0], b)
	case "get":
		if err := need(1, "get KEY"); err != nil {
			return nil, err
		}
		v, err := stub.GetState(args[0])
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, fmt.Errorf("no document %q", args[0])
		}
		return v, nil
	case "delete":
		if err := need(1, "delete KEY"); err != nil {
			return nil, err
		}
		v, err := stub.GetState(args[0])
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, fmt.Errorf("no document %q to delete", args[0])
		}
		return nil, stub.DelState(args[0])
	case "patch":
		if err := need(2, "patch KEY JSON"); err != nil {
			return nil, err
		}
		cur, err := read(stub, args[0])
		if err != nil {
			return nil, err
		}
		patch, err := decode([]byte(args[1]))
		if err != nil {
			return nil, fmt.Errorf("patch: %w", err)
		}
		merged, ok := mergePatch(cur, patch).(map[string]any)
		if !ok {
			return nil, errors.New("patch: the result must be a JSON object")
		}
		b, _ := encode(merged)
		return b, stub.PutState(args[0], b)
	case "transfer":
		if err := need(2, "transfer KEY NEWOWNER"); err != nil {
			return nil, err
		}
		doc, err := read(stub, args[0])
		if err != nil {
			return nil, err
		}
		if r, _ := doc["recall"].(bool); r {
			return nil, fmt.Errorf("%q is recalled and cannot be transferred", args[0])
		}
		if doc["owner"] == args[1] {
			return nil, fmt.Errorf("%q is already owned by %s", args[0], args[1])
		}
		if args[1] == "" {
			return nil, errors.New("transfer: empty new owner")
		}
		doc["owner"] = args[1]
		b, _ := encode(doc)
		return b, stub.PutState(args[0], b)
	case "recall":
		if err := need(1, "recall SELECTOR"); err != nil {
			return nil, err
		}
		q := args[0]
		// A bare selector is wrapped: {"owner": "x"} -> {"selector": {"owner": "x"}}.
		if m, err := decode([]byte(q)); err == nil {
			if obj, ok := m.(map[string]any); ok {
				if _, has := obj["selector"]; !has {
					b, _ := json.Marshal(map[string]any{"selector": obj})
					q = string(b)
				}
			}
		}
		kvs, err := stub.Find(q)
		if err != nil {
			return nil, err
		}
		keys := []string{}
		when := stub.Timestamp().Unix()
		for _, kv := range kvs {
			d, err := decode(kv.Value)
			if err != nil {
				continue
			}
			doc, ok := d.(map[string]any)
			if !ok {
				continue
			}
			doc["recall"] = true
			doc["recallDate"] = json.Number(fmt.Sprint(when))
			b, _ := encode(doc)
			if err := stub.PutState(kv.Key, b); err != nil {
				return nil, err
			}
			keys = append(keys, kv.Key)
		}
		return json.Marshal(keys)
	}
	return nil, fmt.Errorf("unknown function %q (use put, get, delete, patch, transfer, recall)", fn)
}

func read(stub chaincode.Stub, key string) (map[string]any, error) {
	v, err := stub.GetState(key)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("no document %q", key)
	}
	d, err := decode(v)
	if err != nil {
		return nil, fmt.Errorf("document %q: %w", key, err)
	}
	doc, ok := d.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("document %q is not a JSON object", key)
	}
	return doc, nil
}

func object(s string) (map[string]any, error) {
	d, err := decode([]byte(s))
	if err != nil {
		return nil, err
	}
	doc, ok := d.(map[string]any)
	if !ok {
		return nil, errors.New("the document must be a JSON object")
	}
	return doc, nil
}

func decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("invalid JSON: trailing data")
	}
	return v, nil
}

// encode writes JSON with sorted keys (encoding/json's map order), so every
// endorser writes the same bytes.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// mergePatch applies an RFC 7386 JSON merge patch.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}
