// etcd for lballoc's real control plane: the etcd server's own entry point (etcdmain), built from
// the go.etcd.io/etcd/server/v3 module so that no prebuilt binary has to be downloaded.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
