// Package policy parses and evaluates endorsement policies: boolean
// formulas over organisation names, in the syntax Hyperledger Fabric uses.
//
//	AND('Org1', 'Org2')
//	OR('Org1', AND('Org2', 'Org3'))
//	OutOf(2, 'Org1', 'Org2', 'Org3')
//
// Names are quoted with ' or " (or bare, when they are plain identifiers);
// a Fabric-style role suffix such as 'Org1.member' or 'Org1.peer' names the
// same organisation. Keywords are case-insensitive. Parse returns an
// error wrapping ErrSyntax with the position of the problem.
//
// A Policy is satisfied by a set of organisations (those with a valid
// endorsement): AND needs every operand, OR any one, OutOf(n, ...) at least
// n of them.
//
//	p, err := policy.Parse("AND('Org1','Org2')")
//	ok := p.Satisfied(func(org string) bool { return endorsed[org] })
package policy
