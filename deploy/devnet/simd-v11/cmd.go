package main

// The root command follows ibc-go v8's testing/simapp/simd/cmd/root.go, adapted to Cosmos SDK v0.54
// (AppCreator without a trace writer, log/v2) and trimmed of what a devnet does not use (SIGN_MODE_TEXTUAL,
// confix, in-place testnets, the WASM config sample).

import (
	"errors"
	"os"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/spf13/cobra"

	"cosmossdk.io/client/v2/autocli"
	"cosmossdk.io/core/appmodule"
	"cosmossdk.io/log/v2"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/config"
	"github.com/cosmos/cosmos-sdk/client/debug"
	"github.com/cosmos/cosmos-sdk/client/keys"
	"github.com/cosmos/cosmos-sdk/client/pruning"
	"github.com/cosmos/cosmos-sdk/client/rpc"
	"github.com/cosmos/cosmos-sdk/client/snapshot"
	addresscodec "github.com/cosmos/cosmos-sdk/codec/address"
	runtimeservices "github.com/cosmos/cosmos-sdk/runtime/services"
	"github.com/cosmos/cosmos-sdk/server"
	serverconfig "github.com/cosmos/cosmos-sdk/server/config"
	servertypes "github.com/cosmos/cosmos-sdk/server/types"
	simtestutil "github.com/cosmos/cosmos-sdk/testutil/sims"
	sdk "github.com/cosmos/cosmos-sdk/types"
	authcmd "github.com/cosmos/cosmos-sdk/x/auth/client/cli"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	genutilcli "github.com/cosmos/cosmos-sdk/x/genutil/client/cli"

	cmtcfg "github.com/cometbft/cometbft/config"

	"github.com/cosmos/ibc-go/v11/testing/simapp"
)

func newRootCmd() *cobra.Command {
	// A throwaway in-memory app supplies the codecs, tx config and module manager for the CLI. Its home
	// is a path that does not exist, so nothing is written there (as v8's root.go does).
	tmp, err := os.MkdirTemp("", "simd-v11")
	if err == nil {
		os.RemoveAll(tmp)
	} else {
		tmp = simapp.DefaultNodeHome
	}
	tempApp := simapp.NewSimApp(log.NewNopLogger(), dbm.NewMemDB(), nil, true, simtestutil.NewAppOptionsWithFlagHome(tmp))

	initClientCtx := client.Context{}.
		WithCodec(tempApp.AppCodec()).
		WithInterfaceRegistry(tempApp.InterfaceRegistry()).
		WithTxConfig(tempApp.TxConfig()).
		WithLegacyAmino(tempApp.LegacyAmino()).
		WithInput(os.Stdin).
		WithAccountRetriever(authtypes.AccountRetriever{}).
		WithHomeDir(simapp.DefaultNodeHome).
		WithViper("") // no prefix for env variables, as in simapp

	rootCmd := &cobra.Command{
		Use:           "simd",
		Short:         "ibc-go v11 simapp (Ferry devnet chain)",
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(cmd.OutOrStdout())
			cmd.SetErr(cmd.ErrOrStderr())

			ctx, err := client.ReadPersistentCommandFlags(initClientCtx.WithCmdContext(cmd.Context()), cmd.Flags())
			if err != nil {
				return err
			}
			if ctx, err = config.ReadFromClientConfig(ctx); err != nil {
				return err
			}
			if err := client.SetCmdClientContextHandler(ctx, cmd); err != nil {
				return err
			}
			// app.toml defaults: zero minimum gas price, as simapp's simd sets it.
			srvCfg := serverconfig.DefaultConfig()
			srvCfg.MinGasPrices = "0stake"
			return server.InterceptConfigsPreRunHandler(cmd, serverconfig.DefaultConfigTemplate, srvCfg, cmtcfg.DefaultConfig())
		},
	}

	sdk.GetConfig().Seal() // default bech32 prefix "cosmos", coin type 118

	basics := tempApp.BasicModuleManager
	rootCmd.AddCommand(
		genutilcli.InitCmd(basics, simapp.DefaultNodeHome),
		debug.Cmd(),
		pruning.Cmd(newApp, simapp.DefaultNodeHome),
		snapshot.Cmd(newApp),
	)
	// start, comet (show-node-id, reset, ...), export, version, rollback.
	server.AddCommands(rootCmd, simapp.DefaultNodeHome, newApp, appExport, func(*cobra.Command) {})
	rootCmd.AddCommand(
		server.StatusCommand(),
		genutilcli.Commands(tempApp.TxConfig(), basics, simapp.DefaultNodeHome), // add-genesis-account, gentx, collect-gentxs, ...
		queryCommand(),
		txCommand(),
		keys.Commands(),
	)

	// Module query/tx commands (bank, staking, ibc client/connection/channel/v2, transfer, ...) come from
	// autocli plus the modules' hand-written commands, as in the SDK's simapp.
	modules := map[string]appmodule.AppModule{}
	for name, m := range tempApp.ModuleManager.Modules {
		if am, ok := m.(appmodule.AppModule); ok {
			modules[name] = am
		}
	}
	autoCliOpts := autocli.AppOptions{
		Modules:               modules,
		ModuleOptions:         runtimeservices.ExtractAutoCLIOptions(tempApp.ModuleManager.Modules),
		AddressCodec:          addresscodec.NewBech32Codec(sdk.GetConfig().GetBech32AccountAddrPrefix()),
		ValidatorAddressCodec: addresscodec.NewBech32Codec(sdk.GetConfig().GetBech32ValidatorAddrPrefix()),
		ConsensusAddressCodec: addresscodec.NewBech32Codec(sdk.GetConfig().GetBech32ConsensusAddrPrefix()),
		ClientCtx:             initClientCtx,
	}
	if err := autoCliOpts.EnhanceRootCommand(rootCmd); err != nil {
		panic(err)
	}
	return rootCmd
}

func queryCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:                        "query",
		Aliases:                    []string{"q"},
		Short:                      "Querying subcommands",
		SuggestionsMinimumDistance: 2,
		RunE:                       client.ValidateCmd,
	}
	cmd.AddCommand(
		rpc.ValidatorCommand(),
		rpc.WaitTxCmd(),
		server.QueryBlockCmd(),
		server.QueryBlocksCmd(),
		server.QueryBlockResultsCmd(),
		authcmd.QueryTxsByEventsCmd(),
		authcmd.QueryTxCmd(),
	)
	return cmd
}

func txCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:                        "tx",
		Short:                      "Transactions subcommands",
		SuggestionsMinimumDistance: 2,
		RunE:                       client.ValidateCmd,
	}
	cmd.AddCommand(
		authcmd.GetSignCommand(),
		authcmd.GetSignBatchCommand(),
		authcmd.GetMultiSignCommand(),
		authcmd.GetMultiSignBatchCmd(),
		authcmd.GetValidateSignaturesCommand(),
		authcmd.GetBroadcastCommand(),
		authcmd.GetEncodeCommand(),
		authcmd.GetDecodeCommand(),
		authcmd.GetSimulateCmd(),
	)
	return cmd
}

// newApp is the server's AppCreator (SDK v0.54 passes no trace writer).
func newApp(logger log.Logger, db dbm.DB, appOpts servertypes.AppOptions) servertypes.Application {
	return simapp.NewSimApp(logger, db, nil, true, appOpts, server.DefaultBaseappOptions(appOpts)...)
}

// appExport is a stub: ibc-go v11's testing/simapp has no ExportAppStateAndValidators, and the devnet
// never exports state (chains are re-created from genesis each time).
func appExport(log.Logger, dbm.DB, int64, bool, []string, servertypes.AppOptions, []string) (servertypes.ExportedApp, error) {
	return servertypes.ExportedApp{}, errors.New("export not supported: ibc-go v11 testing/simapp has no state export")
}
