// Command temporal-sql-tool is the server's own schema tool (go.temporal.io/server/tools/sql) with
// only the PostgreSQL plugin, built from the same pinned module as the server.
package main

import (
	"os"

	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/tools/sql"
)

func main() {
	if err := sql.RunTool(os.Args); err != nil {
		os.Exit(1)
	}
}
