# A fake API server for run.sh: legacy discovery, the OpenAPI v3 documents openapi_dump wrote,
# and a store that keeps created objects and answers PATCH with the stored object unchanged. It
# logs every request (one JSON line each) so run.sh can check what kubectl sent.
# Usage: fake_server.py PORT OPENAPI_DIR LOG_FILE
import json, sys, uuid, copy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs
OA = sys.argv[2]
LOG = open(sys.argv[3], 'a')
store = {}
rv = [1]
def res(name, kind, ns, verbs=None):
    return {"name": name, "singularName": kind.lower(), "namespaced": ns, "kind": kind,
            "verbs": verbs or ["create","delete","get","list","patch","update","watch"]}
DISC = {
 "/api": {"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:1"}]},
 "/apis": {"kind":"APIGroupList","apiVersion":"v1","groups":[
   {"name":"example.com","versions":[{"groupVersion":"example.com/v1alpha1","version":"v1alpha1"}],"preferredVersion":{"groupVersion":"example.com/v1alpha1","version":"v1alpha1"}},
   {"name":"coordination.k8s.io","versions":[{"groupVersion":"coordination.k8s.io/v1","version":"v1"}],"preferredVersion":{"groupVersion":"coordination.k8s.io/v1","version":"v1"}}]},
 "/api/v1": {"kind":"APIResourceList","apiVersion":"v1","groupVersion":"v1","resources":[res("services","Service",True),res("configmaps","ConfigMap",True),res("namespaces","Namespace",False)]},
 "/apis/example.com/v1alpha1": {"kind":"APIResourceList","apiVersion":"v1","groupVersion":"example.com/v1alpha1","resources":[res("widgets","Widget",False)]},
 "/apis/coordination.k8s.io/v1": {"kind":"APIResourceList","apiVersion":"v1","groupVersion":"coordination.k8s.io/v1","resources":[res("leases","Lease",True)]},
}
class H(BaseHTTPRequestHandler):
    def send(self, code, body):
        b = json.dumps(body).encode()
        self.send_response(code); self.send_header('Content-Type','application/json')
        self.send_header('Content-Length', str(len(b))); self.end_headers(); self.wfile.write(b)
    def log(self, body=None):
        LOG.write(json.dumps({"method": self.command, "path": self.path,
                              "ctype": self.headers.get('Content-Type'), "body": body}) + "\n"); LOG.flush()
    def body(self):
        n = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(n).decode() if n else None
    def notfound(self):
        self.send(404, {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"not found","reason":"NotFound","code":404})
    def do_GET(self):
        self.log()
        u = urlparse(self.path)
        if u.path in DISC: return self.send(200, DISC[u.path])
        if u.path == '/openapi/v3': return self.send(200, json.load(open(OA + '/index.json')))
        if u.path.startswith('/openapi/v3/'):
            f = OA + '/' + u.path[len('/openapi/v3/'):].replace('/', '_') + '.json'
            try: return self.send(200, json.load(open(f)))
            except FileNotFoundError: return self.notfound()
        if u.path in store: return self.send(200, store[u.path])
        return self.notfound()
    def do_POST(self):
        b = self.body(); self.log(b)
        o = json.loads(b); o.setdefault('metadata', {})
        rv[0] += 1; o['metadata']['resourceVersion'] = str(rv[0]); o['metadata']['uid'] = str(uuid.uuid4())
        u = urlparse(self.path)
        store[u.path + '/' + o['metadata']['name']] = o
        self.send(201, o)
    def do_PATCH(self):
        b = self.body(); self.log(b)
        u = urlparse(self.path)
        if u.path not in store: return self.notfound()
        self.send(200, store[u.path])
    def log_message(self, *a): pass
srv = ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H)
srv.serve_forever()
