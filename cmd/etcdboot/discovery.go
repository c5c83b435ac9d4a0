package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/discovery"
	"github.com/etcdboot/etcdboot/internal/render"
)

func newDiscoveryCommand(_ *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "discovery", Short: "Create and inspect etcd v3 discovery tokens (etcd 3.6+)"}
	var d discovery.TokenCluster
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

	statusCmd := &cobra.Command{
		Use:   "status TOKEN",
		Short: "List the members registered under a token",
		Args:  cobra.ExactArgs(1),
	}
	out := addWriteOut(statusCmd, render.FormatTable, render.FormatJSON)
	statusCmd.RunE = func(cmd *cobra.Command, args []string) error {
		st, err := discovery.GetTokenStatus(cmd.Context(), d, args[0])
		if err != nil {
			return err
		}
		return writeOut(cmd, out, tokenStatusWriters(st), false)
	}
	cmd.AddCommand(newCmd, statusCmd)
	return cmd
}

// tokenStatusWriters prints st as JSON, or as a line saying how many members
// registered above a table of them, like etcdctl member list -w table.
func tokenStatusWriters(st discovery.TokenStatus) render.Writers {
	return render.Writers{
		render.FormatTable: func(w io.Writer) error {
			rows := make([][]string, 0, len(st.Members))
			for _, m := range st.Members {
				rows = append(rows, []string{m.ID, m.Name, strings.Join(m.PeerURLs, ",")})
			}
			if _, err := fmt.Fprintf(w, "token %s: %d of %d members registered\n", st.Token, len(st.Members), st.Size); err != nil {
				return err
			}
			return render.Table{Header: []string{"ID", "NAME", "PEER ADDRS"}, Rows: rows}.Render(w)
		},
		render.FormatJSON: func(w io.Writer) error { return render.JSON(w, st) },
	}
}
