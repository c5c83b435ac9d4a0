package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/discovery"
)

func newDiscoveryCommand(_ *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "discovery", Short: "Create and inspect etcd v3 discovery tokens (etcd 3.6+)"}
	var d discovery.DiscoveryCluster
	pf := cmd.PersistentFlags()
	pf.StringSliceVar(&d.Endpoints, "endpoints", nil, "client URLs of the discovery cluster")
	pf.StringVar(&d.TLS.CAFile, "cacert", "", "CA bundle of the discovery cluster")
	pf.StringVar(&d.TLS.CertFile, "cert", "", "client certificate")
	pf.StringVar(&d.TLS.KeyFile, "key", "", "client key")

	var (
		token string
		size  int
	)
	newCmd := &cobra.Command{
		Use:   "new --endpoints URLs --size N [--token T]",
		Short: "Create a token on the discovery cluster and print it",
		Long: `new writes /_etcd/registry/<token>/_config/size on an existing etcd cluster.
Members started with --discovery-token <token> register under it and form a
cluster once N have registered. Re-running with the same token and size is a
no-op; another size is an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				t, err := discovery.NewToken("etcd")
				if err != nil {
					return err
				}
				token = t
			}
			if err := discovery.CreateToken(cmd.Context(), d, token, size); err != nil {
				return err
			}
			cmd.Println(token)
			return nil
		},
	}
	newCmd.Flags().StringVar(&token, "token", "", "token to create (default: a random one)")
	newCmd.Flags().IntVar(&size, "size", 3, "expected cluster size")

	var output string
	statusCmd := &cobra.Command{
		Use:   "status TOKEN",
		Short: "List the members registered under a token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := discovery.GetTokenStatus(cmd.Context(), d, args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			cmd.Printf("token %s: %d of %d members registered\n", st.Token, len(st.Members), st.Size)
			for _, m := range st.Members {
				cmd.Println(fmt.Sprintf("  %-16s %-12s %v", m.ID, m.Name, m.PeerURLs))
			}
			return nil
		},
	}
	statusCmd.Flags().StringVarP(&output, "write-out", "w", "table", "output format: table or json")
	cmd.AddCommand(newCmd, statusCmd)
	return cmd
}
