//go:build !unix

package browser

import (
	"context"
	"os"
)

// lock does nothing here: browsers run side by side.
func lock(ctx context.Context) (*os.File, error) { return nil, nil }
