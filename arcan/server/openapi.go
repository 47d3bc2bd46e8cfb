package server

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
)

// OpenAPI builds the OpenAPI 3.1 document from the route table and the Go
// types of each route's body, by reflection, so it cannot drift from the
// handlers.
func (s *Server) OpenAPI() map[string]any {
	g := &schemaGen{defs: map[string]any{}}
	paths := map[string]map[string]any{}
	for _, r := range s.routes() {
		op := map[string]any{"summary": r.Summary, "operationId": opID(r)}
		var params []any
		for _, seg := range strings.Split(r.Path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
			}
		}
		for _, q := range r.Query {
			params = append(params, map[string]any{"name": q, "in": "query", "required": false, "schema": map[string]string{"type": "string"}})
		}
		for _, h := range r.Headers {
			params = append(params, map[string]any{"name": h, "in": "header", "required": false, "schema": map[string]string{"type": "string"}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if r.Request != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(r.Request))}}}
		}
		content := map[string]any{}
		switch {
		case r.Response != nil:
			content["application/json"] = map[string]any{"schema": g.schema(reflect.TypeOf(r.Response))}
		case r.Path == "/metrics":
			content["text/plain"] = map[string]any{"schema": map[string]string{"type": "string"}}
		default:
			content["application/json"] = map[string]any{"schema": map[string]any{}}
		}
		if r.SSE {
			content["text/event-stream"] = map[string]any{"schema": map[string]string{"type": "string"}}
		}
		code := "200"
		if r.Method == "POST" && (r.Path == "/v1/sessions" || strings.HasSuffix(r.Path, "/branches")) {
			code = "201"
		}
		op["responses"] = map[string]any{
			code:      map[string]any{"description": "OK", "content": content},
			"default": map[string]any{"description": "Error", "content": map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(APIError{}))}}},
		}
		if paths[r.Path] == nil {
			paths[r.Path] = map[string]any{}
		}
		paths[r.Path][strings.ToLower(r.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]string{"title": "arcand", "version": "1"},
		"paths":   paths,
		"components": map[string]any{
			"schemas":         g.defs,
			"securitySchemes": map[string]any{"agentJWT": map[string]string{"type": "http", "scheme": "bearer", "bearerFormat": "agent+jwt"}},
		},
	}
}

func opID(r route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(r.Method))
	for _, seg := range strings.FieldsFunc(r.Path, func(c rune) bool { return c == '/' || c == '.' || c == '{' || c == '}' }) {
		if seg == "v1" {
			continue
		}
		b.WriteString(strings.ToUpper(seg[:1]) + seg[1:])
	}
	return b.String()
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.OpenAPI())
}

type schemaGen struct {
	defs map[string]any
}

var rawMessage = reflect.TypeOf(json.RawMessage(nil))

func (g *schemaGen) schema(t reflect.Type) any {
	if t == rawMessage {
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.String:
		return map[string]string{"type": "string"}
	case reflect.Bool:
		return map[string]string{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]string{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]string{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := t.Name()
		if name == "" {
			return g.object(t)
		}
		if pkg := t.PkgPath(); !strings.HasSuffix(pkg, "/server") {
			name = pkg[strings.LastIndex(pkg, "/")+1:] + "." + name
		}
		ref := map[string]string{"$ref": "#/components/schemas/" + name}
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // guards recursion
			g.defs[name] = g.object(t)
		}
		return ref
	}
	return map[string]any{}
}

func (g *schemaGen) object(t reflect.Type) any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.schema(f.Type)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && f.Type.Kind() != reflect.Pointer {
				required = append(required, name)
			}
		}
	}
	walk(t)
	o := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		slices.Sort(required)
		o["required"] = required
	}
	return o
}
