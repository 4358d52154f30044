//go:build linux

package link

// OnSyncSent has f called each time Sync has sent its first markers.
func OnSyncSent(l *Link, f func()) { l.syncSent = f }
