// lab-kubelet serves the kubelet's exec endpoint for a lab cluster's Node, so that `kubectl exec`
// goes through the real kube-apiserver's exec path. The streams (SPDY and WebSocket, every
// protocol version the apiserver speaks toward a kubelet) are served by the kubelet's own
// streaming server, k8s.io/kubelet/pkg/cri/streaming; its Runtime runs a handler command:
//
//	<handler> <handler args...> <namespace> <pod> <container> -- <command...>
//
// with the exec's stdin, stdout and stderr, and its exit code sent back as the command's exit code.
// There are no containers: attach and port-forward are refused (501).
//
// The apiserver authenticates with its kubelet client certificate (--kubelet-client-certificate),
// checked against --client-ca and --client-cn. /healthz answers without one.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"

	"k8s.io/client-go/tools/remotecommand"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/kubelet/pkg/cri/streaming"
	remotecommandserver "k8s.io/kubelet/pkg/cri/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// handlerRuntime is the streaming server's Runtime: the container ID it is given is
// "<namespace>/<pod>/<container>" (see serveExec).
type handlerRuntime struct {
	handler []string
}

func (h handlerRuntime) Exec(ctx context.Context, containerID string, cmd []string, in io.Reader,
	out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	target := strings.SplitN(containerID, "/", 3)
	args := append(append(append([]string{}, h.handler[1:]...), target...), "--")
	c := exec.CommandContext(ctx, h.handler[0], append(args, cmd...)...)
	if out != nil {
		c.Stdout = out
	}
	if errOut != nil {
		c.Stderr = errOut
	}
	if in != nil {
		// Not c.Stdin = in: Wait would wait for the client to close stdin, even after the
		// command has exited. The copy ends when the stream closes.
		stdin, err := c.StdinPipe()
		if err != nil {
			return err
		}
		go func() {
			_, _ = io.Copy(stdin, in)
			_ = stdin.Close()
		}()
	}
	err := c.Run()
	// The program only: arguments may carry credentials (curl -H "Authorization: ...").
	log.Printf("exec %s %s: %s", containerID, programOf(cmd), errOrOK(err))
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		// The streaming server reports a utilexec.ExitError as the exec's exit code.
		return utilexec.CodeExitError{Err: err, Code: exitErr.ExitCode()}
	}
	return err
}

func (handlerRuntime) Attach(context.Context, string, io.Reader, io.WriteCloser, io.WriteCloser, bool,
	<-chan remotecommand.TerminalSize) error {
	return errors.New("the lab kubelet does not support attach")
}

func (handlerRuntime) PortForward(context.Context, string, int32, io.ReadWriteCloser) error {
	return errors.New("the lab kubelet does not support port-forward")
}

func programOf(cmd []string) string {
	if len(cmd) == 0 {
		return "(no command)"
	}
	return cmd[0]
}

func errOrOK(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

type kubelet struct {
	stream   streaming.Server
	clientCN string
}

// serveExec answers the apiserver's /exec/<namespace>/<pod>[/<uid>]/<container>?command=...
// as the kubelet does: the request becomes a streaming-server exec request, served in-process
// (the kubelet proxies it to the runtime's streaming server instead).
func (k *kubelet) serveExec(w http.ResponseWriter, r *http.Request) {
	if !k.authorized(r) {
		http.Error(w, "Forbidden: the lab kubelet serves its apiserver's client certificate only",
			http.StatusForbidden)
		return
	}
	opts, err := remotecommandserver.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	target := strings.Join([]string{r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")}, "/")
	resp, err := k.stream.GetExec(&runtimeapi.ExecRequest{
		ContainerId: target,
		Cmd:         r.URL.Query()["command"],
		Tty:         opts.TTY,
		Stdin:       opts.Stdin,
		Stdout:      opts.Stdout,
		Stderr:      opts.Stderr,
	})
	if err != nil {
		streaming.WriteError(err, w)
		return
	}
	u, err := url.Parse(resp.Url)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	inner := r.Clone(r.Context())
	inner.URL.Path, inner.URL.RawPath, inner.RequestURI = u.Path, "", u.RequestURI()
	k.stream.ServeHTTP(w, inner)
}

func (k *kubelet) authorized(r *http.Request) bool {
	// VerifyClientCertIfGiven: a certificate, when present, is already verified against the CA.
	return r.TLS != nil && len(r.TLS.PeerCertificates) > 0 &&
		r.TLS.PeerCertificates[0].Subject.CommonName == k.clientCN
}

func notSupported(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "the lab kubelet serves exec only", http.StatusNotImplemented)
}

func main() {
	listen := flag.String("listen", "", "address:port to serve on (the Node's InternalIP and kubelet port)")
	cert := flag.String("cert", "", "serving certificate (PEM)")
	key := flag.String("key", "", "serving key (PEM)")
	clientCA := flag.String("client-ca", "", "CA of the apiserver's kubelet client certificate")
	clientCN := flag.String("client-cn", "kube-apiserver-kubelet-client", "the apiserver's client certificate CN")
	handler := flag.String("handler", "", "program run for each exec, followed by the arguments after --")
	flag.Parse()
	if *listen == "" || *cert == "" || *key == "" || *clientCA == "" || *handler == "" {
		fmt.Fprintln(os.Stderr, "usage: lab-kubelet --listen ADDR:PORT --cert F --key F --client-ca F --handler PROG [-- ARGS...]")
		os.Exit(2)
	}
	caPEM, err := os.ReadFile(*clientCA)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		log.Fatalf("%s: no certificate", *clientCA)
	}

	config := streaming.DefaultConfig
	config.Addr = *listen
	// The streaming server's own routes (/cri/exec/<token>) are reached in-process only.
	config.BaseURL = &url.URL{Scheme: "https", Host: *listen, Path: "/cri/"}
	stream, err := streaming.NewServer(config, handlerRuntime{handler: append([]string{*handler}, flag.Args()...)})
	if err != nil {
		log.Fatal(err)
	}
	k := &kubelet{stream: stream, clientCN: *clientCN}
	mux := http.NewServeMux()
	mux.HandleFunc("/exec/{ns}/{pod}/{container}", k.serveExec)
	mux.HandleFunc("/exec/{ns}/{pod}/{uid}/{container}", k.serveExec)
	mux.HandleFunc("/attach/", notSupported)
	mux.HandleFunc("/portForward/", notSupported)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	server := &http.Server{
		Addr:    *listen,
		Handler: mux,
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			ClientAuth: tls.VerifyClientCertIfGiven,
			ClientCAs:  pool,
		},
		// HTTP/1.1 only: exec upgrades the connection (SPDY or WebSocket).
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	log.Printf("lab-kubelet serving exec on https://%s", *listen)
	log.Fatal(server.ListenAndServeTLS(*cert, *key))
}
