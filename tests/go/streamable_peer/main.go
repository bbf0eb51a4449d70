// Command streamable_peer is a test peer that dials an MCP server the way newer upstream mcp-tools
// does (openziti/mcp-gateway tools/client.go after v0.1.3): the MCP Go SDK's Streamable HTTP client with the
// endpoint http://mcp-backend (path "/"), over an http.Client whose every connection is a new zrok
// dial of the share (one zrok access for the whole run, deleted at exit). Given a URL instead of a
// share token it dials that URL directly (no zrok).
//
//	streamable_peer [flags] TOKEN|URL
//	  -endpoint URL  the MCP endpoint through zrok (default http://mcp-backend, as upstream)
//	  -call NAME     the tool to call (default: the first listed tool; "" with -no-call: none)
//	  -args JSON     its arguments (default {})
//	  -no-call       only initialize and list
//	  -sse           the legacy SSE client instead (what mcp-tools v0.1.3 used), endpoint .../sse
//	  -timeout D     limit for the whole run (default 60s)
//
// The zrok environment is $HOME/.zrok2 (run it with HOME set to an enabled environment).
// Prints one JSON object on stdout:
//
//	{"transport":"streamable","endpoint":"...","server":{"name":..,"version":..},
//	 "protocolVersion":"...","tools":["..."],"call":{"name":"...","result":{...}}}
//
// Errors go to stderr with exit status 1.
//
//	streamable_peer serve
//
// serves a Streamable HTTP MCP server (tools echo and add) at "/" on 127.0.0.1:0 and prints
// "PORT n"; put it behind `zrok2 share private` to check the zrok route end to end.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/openziti/zrok/v2/environment"
	"github.com/openziti/zrok/v2/environment/env_core"
	"github.com/openziti/zrok/v2/sdk/golang/sdk"
)

type echoArgs struct {
	Text string `json:"text"`
}

type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

func textResult(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

func serve() error {
	server := mcp.NewServer(&mcp.Implementation{Name: "mcpz-streamable-peer-server", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "Echo the text"},
		func(ctx context.Context, req *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
			return textResult(in.Text), nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "add", Description: "Add two integers"},
		func(ctx context.Context, req *mcp.CallToolRequest, in addArgs) (*mcp.CallToolResult, any, error) {
			return textResult(fmt.Sprint(in.A + in.B)), nil, nil
		})
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("PORT %d\n", ln.Addr().(*net.TCPAddr).Port)
	return http.Serve(ln, handler)
}

type zrokAccess struct {
	root  env_core.Root
	acc   *sdk.Access
	token string
}

// openAccess creates the zrok access (POST /access) for token from $HOME/.zrok2.
func openAccess(token string) (*zrokAccess, error) {
	root, err := environment.LoadRoot()
	if err != nil {
		return nil, fmt.Errorf("load zrok environment: %w", err)
	}
	if !root.IsEnabled() {
		return nil, errors.New("the zrok environment in $HOME/.zrok2 is not enabled")
	}
	acc, err := sdk.CreateAccess(root, &sdk.AccessRequest{ShareToken: token})
	if err != nil {
		return nil, fmt.Errorf("create access to %s: %w", token, err)
	}
	return &zrokAccess{root: root, acc: acc, token: token}, nil
}

// httpClient dials the share for every connection; host and port of the URL are ignored.
func (z *zrokAccess) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return sdk.NewDialer(z.token, z.root)
		},
	}}
}

func (z *zrokAccess) close() error { return sdk.DeleteAccess(z.root, z.acc) }

type result struct {
	Transport       string              `json:"transport"`
	Endpoint        string              `json:"endpoint"`
	ShareToken      string              `json:"shareToken,omitempty"`
	Server          *mcp.Implementation `json:"server"`
	ProtocolVersion string              `json:"protocolVersion"`
	Tools           []string            `json:"tools"`
	Call            *callResult         `json:"call,omitempty"`
}

type callResult struct {
	Name   string              `json:"name"`
	Result *mcp.CallToolResult `json:"result"`
}

func run() error {
	endpoint := flag.String("endpoint", "http://mcp-backend", "MCP endpoint when dialing a share token")
	call := flag.String("call", "", "tool to call (default: the first listed)")
	argsJSON := flag.String("args", "{}", "tool arguments as a JSON object")
	noCall := flag.Bool("no-call", false, "only initialize and list tools")
	useSSE := flag.Bool("sse", false, "legacy SSE client instead of Streamable HTTP")
	limit := flag.Duration("timeout", 60*time.Second, "limit for the whole run")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: streamable_peer [flags] SHARE_TOKEN|URL")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	target := flag.Arg(0)
	var args map[string]any
	if err := json.Unmarshal([]byte(*argsJSON), &args); err != nil {
		return fmt.Errorf("-args: %w", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *limit)
	defer cancel()

	out := result{Transport: "streamable"}
	hc := http.DefaultClient
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		out.Endpoint = target
	} else {
		z, err := openAccess(target)
		if err != nil {
			return err
		}
		defer func() {
			if err := z.close(); err != nil {
				fmt.Fprintln(os.Stderr, "delete access:", err)
			}
		}()
		hc = z.httpClient()
		out.Endpoint = *endpoint
		out.ShareToken = target
		if *useSSE && !strings.HasSuffix(out.Endpoint, "/sse") {
			out.Endpoint = strings.TrimSuffix(out.Endpoint, "/") + "/sse"
		}
	}

	var transport mcp.Transport = &mcp.StreamableClientTransport{Endpoint: out.Endpoint, HTTPClient: hc}
	if *useSSE {
		out.Transport = "sse"
		transport = &mcp.SSEClientTransport{Endpoint: out.Endpoint, HTTPClient: hc}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpz-streamable-peer", Version: "1"}, nil)
	session, err := client.Connect(ctx, transport, nil)
	if err != nil {
		return fmt.Errorf("connect %s (%s): %w", out.Endpoint, out.Transport, err)
	}
	defer session.Close()
	ir := session.InitializeResult()
	out.Server = ir.ServerInfo
	out.ProtocolVersion = ir.ProtocolVersion

	tools, err := session.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	out.Tools = []string{}
	for _, t := range tools.Tools {
		out.Tools = append(out.Tools, t.Name)
	}
	if !*noCall {
		name := *call
		if name == "" {
			if len(out.Tools) == 0 {
				return errors.New("the server lists no tools to call")
			}
			name = out.Tools[0]
		}
		res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			return fmt.Errorf("tools/call %s: %w", name, err)
		}
		out.Call = &callResult{Name: name, Result: res}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

func main() {
	var err error
	if len(os.Args) == 2 && os.Args[1] == "serve" {
		err = serve()
	} else {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamable_peer:", err)
		os.Exit(1)
	}
}
