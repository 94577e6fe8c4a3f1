package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/caddyoauth/caddy-oauth/store"
)

func tokenRevokeCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "revoke <token-id> | --user ID | --client ID",
		Short: "Revokes an access token, or every token of a user or of a client, and announces it on the revocation feed",
		Long: `Revokes one access token by its id (the JWT's jti, as "caddy oauth token --json"
prints it and introspection reports it), or every access and refresh token of a user
(--user), of a client (--client), or of that user with that client (both). The refresh
tokens issued with a revoked access token go with it; the client itself stays (revoke it
on the dashboard or API to stop new tokens too). Revoked access tokens go on the
revocation feed, so guards following it refuse them within their poll interval.`,
		Args: cobra.MaximumNArgs(1),
		RunE: withTarget(func(ctx context.Context, c *cobra.Command, args []string, t *target) error {
			userID, _ := c.Flags().GetString("user")
			clientID, _ := c.Flags().GetString("client")
			n, err := revokeTokens(ctx, t.store, args, userID, clientID)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "Revoked %d access tokens.\n", n)
			return nil
		}),
	}
	addStoreFlags(c)
	c.Flags().String("user", "", "revoke every token of this user id")
	c.Flags().String("client", "", "revoke every token of this client id")
	return c
}

// revokeTokens revokes what the arguments name and returns how many access tokens it
// revoked (already revoked ones are not counted again).
func revokeTokens(ctx context.Context, st store.Store, args []string, userID, clientID string) (int, error) {
	switch {
	case len(args) == 1 && (userID != "" || clientID != ""):
		return 0, errors.New("give a token id or --user/--client, not both")
	case len(args) == 1:
		before, err := st.GetAccessToken(ctx, args[0])
		if errors.Is(err, store.ErrNotFound) {
			return 0, fmt.Errorf("no access token %q", args[0])
		}
		if err != nil {
			return 0, err
		}
		if err := st.RevokeAccessToken(ctx, args[0]); err != nil {
			return 0, err
		}
		if before.Revoked {
			return 0, nil
		}
		return 1, nil
	case userID == "" && clientID == "":
		return 0, errors.New("give a token id, --user or --client")
	}
	if clientID != "" {
		if _, err := st.GetClient(ctx, clientID); errors.Is(err, store.ErrNotFound) {
			return 0, fmt.Errorf("no client %q", clientID)
		} else if err != nil {
			return 0, err
		}
	}
	ids, err := st.RevokeTokensOf(ctx, userID, clientID)
	return len(ids), err
}
