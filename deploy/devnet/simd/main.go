// Command simd is ibc-go v8's test chain (Cosmos SDK + IBC classic), built from Go modules so the
// devnet and integration tests run a real chain. It only wires ibc-go's own root command.
package main

import (
	"os"

	svrcmd "github.com/cosmos/cosmos-sdk/server/cmd"
	"github.com/cosmos/ibc-go/v8/testing/simapp"
	"github.com/cosmos/ibc-go/v8/testing/simapp/simd/cmd"
)

func main() {
	rootCmd := cmd.NewRootCmd()
	if err := svrcmd.Execute(rootCmd, "", simapp.DefaultNodeHome); err != nil {
		os.Exit(1)
	}
}
