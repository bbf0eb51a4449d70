// Command sse_interop drives the MCP Go SDK's legacy SSE transport (the version the Go
// mcp-gateway uses) against mcpz, in both directions.
//
//	sse_interop client URL   # SSEClientTransport: initialize, list, call add/echo; prints JSON
//	sse_interop server       # NewSSEHandler on 127.0.0.1:0; prints "PORT n"; serves until killed
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

type echoArgs struct {
	Text string `json:"text"`
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

func runServer() error {
	server := mcp.NewServer(&mcp.Implementation{Name: "go-test-server", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "add", Description: "Add two integers"},
		func(ctx context.Context, req *mcp.CallToolRequest, in addArgs) (*mcp.CallToolResult, any, error) {
			return text(fmt.Sprint(in.A + in.B)), nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "Echo the text"},
		func(ctx context.Context, req *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
			return text(in.Text), nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "notify", Description: "Log, then answer"},
		func(ctx context.Context, req *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
			_ = req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: "log: " + in.Text})
			return text("notified " + in.Text), nil, nil
		})
	handler := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return server }, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("PORT %d\n", ln.Addr().(*net.TCPAddr).Port)
	return http.Serve(ln, handler)
}

func runClient(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "go-test-client", Version: "1"}, nil)
	session, err := client.Connect(ctx, &mcp.SSEClientTransport{Endpoint: url}, nil)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer session.Close()
	tools, err := session.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	var names []string
	for _, t := range tools.Tools {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	add, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "add", Arguments: map[string]any{"a": 20, "b": 22}})
	if err != nil {
		return fmt.Errorf("call add: %w", err)
	}
	echo, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "from go"}})
	if err != nil {
		return fmt.Errorf("call echo: %w", err)
	}
	out, _ := json.Marshal(map[string]any{
		"server": session.InitializeResult().ServerInfo.Name,
		"tools":  names,
		"add":    add.Content[0].(*mcp.TextContent).Text,
		"echo":   echo.Content[0].(*mcp.TextContent).Text,
	})
	fmt.Println(string(out))
	return nil
}

func main() {
	var err error
	switch {
	case len(os.Args) == 2 && os.Args[1] == "server":
		err = runServer()
	case len(os.Args) == 3 && os.Args[1] == "client":
		err = runClient(os.Args[2])
	default:
		err = fmt.Errorf("usage: sse_interop server | sse_interop client URL")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
