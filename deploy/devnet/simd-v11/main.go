// Command simd is ibc-go v11.2.0's test chain (Cosmos SDK v0.54, CometBFT v0.39; IBC classic plus IBC v2
// with ICS-20 v2 and the `attestations` light client), built from Go modules for the devnet.
// ibc-go v10+ ships only the app (testing/simapp), no simd command, so cmd.go holds a root command of our
// own with the same CLI shape as v8's simd (address prefix cosmos, coin type 118, bond denom stake).
package main

import (
	"fmt"
	"os"

	svrcmd "github.com/cosmos/cosmos-sdk/server/cmd"
	"github.com/cosmos/ibc-go/v11/testing/simapp"
)

func main() {
	rootCmd := newRootCmd()
	if err := svrcmd.Execute(rootCmd, "", simapp.DefaultNodeHome); err != nil {
		// The root command silences cobra's own error output, so print it here.
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
