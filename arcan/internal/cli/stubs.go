package cli

import "github.com/spf13/cobra"

func serveCmd(io IO) *cobra.Command    { return &cobra.Command{Use: "serve", Hidden: true} }
func identityCmd(io IO) *cobra.Command { return &cobra.Command{Use: "identity", Hidden: true} }
func chatCmd(io IO) *cobra.Command     { return &cobra.Command{Use: "chat", Hidden: true} }
