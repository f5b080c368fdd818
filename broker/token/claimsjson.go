package token

import (
	"encoding/json"
	"strconv"
)

// AppendJSON appends the claims as encoding/json would marshal them, byte for byte
// (TestAccessClaimsAppendJSON), without reflection: every access token's payload is
// encoded here, and keys.Signer uses this method when a claims value has it.
func (c *AccessClaims) AppendJSON(b []byte) []byte {
	b = append(b, `{"iss":`...)
	b = appendString(b, c.Issuer)
	b = append(b, `,"sub":`...)
	b = appendString(b, c.Subject)
	b = append(b, `,"aud":`...)
	switch {
	case len(c.Audience) == 1: // Audience.MarshalJSON: one audience is a plain string
		b = appendString(b, c.Audience[0])
	case c.Audience == nil:
		b = append(b, "null"...)
	default:
		b = appendStrings(b, c.Audience)
	}
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.Expiry, 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt, 10)
	b = append(b, `,"jti":`...)
	b = appendString(b, c.ID)
	b = append(b, `,"client_id":`...)
	b = appendString(b, c.ClientID)
	if c.Scope != "" {
		b = append(b, `,"scope":`...)
		b = appendString(b, c.Scope)
	}
	if c.AuthTime != 0 {
		b = append(b, `,"auth_time":`...)
		b = strconv.AppendInt(b, c.AuthTime, 10)
	}
	if c.ACR != "" {
		b = append(b, `,"acr":`...)
		b = appendString(b, c.ACR)
	}
	if len(c.AMR) > 0 {
		b = append(b, `,"amr":`...)
		b = appendStrings(b, c.AMR)
	}
	if c.SessionID != "" {
		b = append(b, `,"sid":`...)
		b = appendString(b, c.SessionID)
	}
	if c.GrantID != "" {
		b = append(b, `,"gid":`...)
		b = appendString(b, c.GrantID)
	}
	if c.Act != nil {
		b = append(b, `,"act":`...)
		b = c.Act.appendJSON(b)
	}
	if c.MayAct != nil {
		b = append(b, `,"may_act":`...)
		b = c.MayAct.appendJSON(b)
	}
	if c.Provider != "" {
		b = append(b, `,"idp":`...)
		b = appendString(b, c.Provider)
	}
	if c.DelegationID != "" {
		b = append(b, `,"delegation_id":`...)
		b = appendString(b, c.DelegationID)
	}
	if c.Confirmation != nil {
		b = append(b, `,"cnf":{`...)
		comma := false
		if c.Confirmation.JKT != "" {
			b = append(b, `"jkt":`...)
			b = appendString(b, c.Confirmation.JKT)
			comma = true
		}
		if c.Confirmation.X5TS256 != "" {
			if comma {
				b = append(b, ',')
			}
			b = append(b, `"x5t#S256":`...)
			b = appendString(b, c.Confirmation.X5TS256)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendJSON appends the actor as encoding/json would marshal it; a nested act
// (a prior actor, RFC 8693 §4.1) recurses.
func (a *Actor) appendJSON(b []byte) []byte {
	b = append(b, `{"sub":`...)
	b = appendString(b, a.Subject)
	if a.Issuer != "" {
		b = append(b, `,"iss":`...)
		b = appendString(b, a.Issuer)
	}
	if a.Act != nil {
		b = append(b, `,"act":`...)
		b = a.Act.appendJSON(b)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string. IDs, URLs and scopes are printable ASCII
// and are copied as they are; anything that encoding/json would escape (quotes,
// backslashes, control characters, <, >, & and all non-ASCII, which it also checks
// for valid UTF-8) goes through encoding/json itself.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}
