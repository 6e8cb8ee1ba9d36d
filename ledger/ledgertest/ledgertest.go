// Package ledgertest holds the seed's car-dealer data and queries with
// their expected answers, shared by the tests of the state database, the
// ledger and the CLI. It is imported only by _test.go files.
package ledgertest

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"slices"
	"strings"
)

//go:embed cardealer.json
var carDealerJSON []byte

// CarDealerKeys are the seed's keys in the order they are loaded.
var CarDealerKeys = []string{"abg1234", "abg1235", "ser1236", "bra1238", "dtrt10001"}

// CarDealer returns the seed's documents by key.
func CarDealer() map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(carDealerJSON, &m); err != nil {
		panic(err) // embedded, checked by every test that uses it
	}
	return m
}

// CanonicalJSON is a document as the docs chaincode stores it: compact,
// keys sorted, numbers as written, no HTML escaping.
func CanonicalJSON(raw []byte) (string, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSpace(buf.String()), nil
}

// Query is a query with its expected answer: rows (SQL: the columns
// joined by "|") or documents (selectors), in order unless AnyOrder.
type Query struct {
	Q        string
	Want     []string
	AnyOrder bool
}

// Matches reports whether got is the expected answer.
func (q Query) Matches(got []string) bool {
	if q.AnyOrder {
		return slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(q.Want)))
	}
	return slices.Equal(got, q.Want)
}

// CarDealerSQL are the seed's SQL queries over the loaded documents.
func CarDealerSQL() ([]Query, error) {
	docs := CarDealer()
	sorted := slices.Sorted(slices.Values(CarDealerKeys))
	var details []string
	for _, k := range sorted {
		c, err := CanonicalJSON(docs[k])
		if err != nil {
			return nil, err
		}
		details = append(details, k+"|"+c)
	}
	return []Query{
		{Q: `SELECT key FROM <STATE>`, Want: sorted, AnyOrder: true},
		{Q: `SELECT key AS serialNumber, valueJson AS details FROM <state> ORDER BY key`, Want: details},
		{Q: `SELECT key FROM <STATE> WHERE key LIKE 'abg%' ORDER BY key`, Want: []string{"abg1234", "abg1235"}},
		{Q: `SELECT key AS serialNumber FROM <STATE> WHERE json_extract(valueJson, '$.docType') = 'vehiclePart' AND json_extract(valueJson, '$.owner') = 'Detroit Auto' ORDER BY key`,
			Want: []string{"abg1234", "abg1235", "bra1238", "ser1236"}},
		{Q: `SELECT json_extract(valueJson, '$.model') AS model, json_extract(valueJson, '$.manufacturer') AS manufacturer FROM <STATE> WHERE json_extract(valueJson, '$.docType') = 'vehicle' AND json_extract(valueJson, '$.owner') = 'Sam Dealer'`,
			Want: []string{"a coupe|Detroit Auto"}},
		{Q: `SELECT json_extract(s.valueJson, '$.model') AS model, json_extract(s.valueJson, '$.manufacturer') AS manufacturer FROM <STATE> AS s, json_each(s.valueJson) AS j WHERE j.key = 'owner' AND j.value = 'Sam Dealer'`,
			Want: []string{"a coupe|Detroit Auto"}},
	}, nil
}

// CarDealerSelectors are selector queries equivalent to the seed's SQL.
func CarDealerSelectors() []Query {
	return []Query{
		{Q: `{"selector": {"serialNumber": {"$regex": "^abg"}}, "fields": ["serialNumber"]}`,
			Want: []string{`{"serialNumber":"abg1234"}`, `{"serialNumber":"abg1235"}`}},
		{Q: `{"selector": {"docType": "vehiclePart", "owner": "Detroit Auto"}, "fields": ["serialNumber"]}`,
			Want: []string{`{"serialNumber":"abg1234"}`, `{"serialNumber":"abg1235"}`, `{"serialNumber":"bra1238"}`, `{"serialNumber":"ser1236"}`}},
		{Q: `{"selector": {"docType": "vehicle", "owner": "Sam Dealer"}, "fields": ["model", "manufacturer"]}`,
			Want: []string{`{"manufacturer":"Detroit Auto","model":"a coupe"}`}},
	}
}
