package main

import "github.com/spf13/cobra"

// ledgerCmd is `node ledger ...`. (Filled in by the ledger service work.)
func (c *cli) ledgerCmd() *cobra.Command {
	return &cobra.Command{Use: "ledger", Short: "Permissioned ledger channels"}
}
