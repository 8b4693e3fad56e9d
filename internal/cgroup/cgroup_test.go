package cgroup

import "testing"

func TestFromPath(t *testing.T) {
	for p, want := range map[string]Unit{
		"/system.slice/nginx.service":                                            {Name: "nginx.service"},
		"/testbed.slice/system.slice/sysdiag-demo-deny.service":                  {Name: "sysdiag-demo-deny.service"},
		"/user.slice/user-1000.slice/user@1000.service/app.slice/backup.service": {Name: "backup.service", User: true, Manager: "user@1000.service"},
		"/testbed.slice/user.slice/user-0.slice/user@0.service/init.scope":       {Name: "init.scope", User: true, Manager: "user@0.service"},
		"/user.slice/user-1000.slice/user@1000.service":                          {Name: "user@1000.service"},
		"/system.slice/docker-abc.scope/inner":                                   {Name: "docker-abc.scope"},
		"/":                                                                      {},
		"/system.slice/getty.slice/getty@tty1.service":                           {Name: "getty@tty1.service"},
	} {
		if got := FromPath(p); got != want {
			t.Errorf("FromPath(%q) = %+v, want %+v", p, got, want)
		}
	}
	hybrid := "12:pids:/system.slice/x.service\n1:name=systemd:/system.slice/x.service\n0::/\n"
	if got := FromProcFile([]byte(hybrid)); got.Name != "x.service" {
		t.Errorf("hybrid: %+v", got)
	}
	if got := FromProcFile([]byte("0::/system.slice/y.service\n")); got.Name != "y.service" {
		t.Errorf("unified: %+v", got)
	}
}
