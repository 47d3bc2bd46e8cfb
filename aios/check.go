package aios

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// The checks below refuse, before anything is written, a payload built in Go
// that would encode to JSON this package then refuses to decode: a journal
// would store it and fail on every later read of its stream.

// enumValues maps each string enum of the taxonomy to its values.
var enumValues = map[reflect.Type][]string{
	reflect.TypeFor[LoopPhase]():          loopPhases,
	reflect.TypeFor[SpanStatus]():         spanStatuses,
	reflect.TypeFor[RiskLevel]():          riskLevels,
	reflect.TypeFor[ApprovalDecision]():   approvalDecisions,
	reflect.TypeFor[SnapshotType]():       snapshotTypes,
	reflect.TypeFor[PolicyDecisionKind](): policyDecisions,
	reflect.TypeFor[SteeringMode]():       steeringModes,
	reflect.TypeFor[MemoryScope]():        memoryScopes,
	reflect.TypeFor[OperatingMode]():      operatingModes,
	reflect.TypeFor[ActorType]():          actorTypes,
	reflect.TypeFor[EconomicMode]():       economicModes,
}

// enumField is an enum field of a payload kind, possibly in a nested struct.
type enumField struct {
	index    []int
	name     string
	optional bool // omitempty: "" is no value
	values   []string
}

// payloadEnums lists the enum fields of each payload kind, computed once;
// it is never written after package initialisation.
var payloadEnums = func() map[reflect.Type][]enumField {
	m := map[reflect.Type][]enumField{}
	for _, name := range KnownTypes() {
		if p := newKnownPayload(name); p != nil {
			t := reflect.TypeOf(p).Elem()
			var fs []enumField
			collectEnums(t, nil, "", &fs)
			if len(fs) > 0 {
				m[t] = fs
			}
		}
	}
	return m
}()

func collectEnums(t reflect.Type, prefix []int, path string, out *[]enumField) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(slices.Clone(prefix), i)
		if vals, ok := enumValues[f.Type]; ok {
			*out = append(*out, enumField{index: idx, name: path + name, optional: strings.Contains(opts, "omitempty"), values: vals})
		} else if f.Type.Kind() == reflect.Struct {
			collectEnums(f.Type, idx, path+name+".", out)
		}
	}
}

// checkPayload reports what in p (and the extra keys written after its
// fields) would not decode back. encoding says the caller encodes p next,
// which refuses a bad state patch by itself: it is not encoded twice.
func checkPayload(p Payload, extra map[string]json.RawMessage, encoding bool) error {
	v := reflect.ValueOf(p)
	if p == nil || (v.Kind() == reflect.Pointer && v.IsNil()) {
		return errors.New("payload is missing")
	}
	if u, ok := p.(*Unknown); ok {
		back, _, err := unmarshalPayload(u.Raw, false)
		if err != nil {
			return fmt.Errorf("unknown payload: %w", err)
		}
		if _, ok := back.(*Unknown); !ok {
			return fmt.Errorf("unknown payload reads back as %s", back.Type())
		}
		return nil
	}
	if v.Kind() != reflect.Pointer {
		return nil
	}
	if sp, ok := p.(*StatePatchCommitted); ok && !encoding {
		// ops and provenance refuse to encode what they could not decode
		if err := sp.Patch.check(); err != nil {
			return fmt.Errorf("StatePatchCommitted field patch: %w", err)
		}
	}
	for _, f := range payloadEnums[v.Type().Elem()] {
		s := v.Elem().FieldByIndex(f.index).String()
		if (s != "" || !f.optional) && !slices.Contains(f.values, s) {
			return fmt.Errorf("%s field %s: %q is not one of %v", p.Type(), f.name, s, f.values)
		}
	}
	if len(extra) > 0 {
		fields := fieldsOf(v.Type().Elem())
		if _, ok := p.(SubsystemEvent); ok {
			fields = fieldsOf(reflect.TypeFor[Custom]())
		}
		for k := range extra {
			if k == "type" || slices.ContainsFunc(fields, func(f fieldInfo) bool { return f.name == k }) {
				return fmt.Errorf("extra key %q is a field of %s", k, p.Type())
			}
		}
	}
	return nil
}
