package main

import "go.temporal.io/server/common/authorization"

// claimMapper reads the caller's role from its JWT. One exception: a connection without a token
// whose client certificate (issued by the deployment's own CA, which the frontend requires) names
// the read-only subject gets reader claims: the Temporal UI server forwards no token of its own.
type claimMapper struct {
	jwt             authorization.ClaimMapper
	readOnlySubject string
}

func (m claimMapper) GetClaims(authInfo *authorization.AuthInfo) (*authorization.Claims, error) {
	if authInfo.AuthToken == "" && m.readOnlySubject != "" && authInfo.TLSSubject != nil &&
		authInfo.TLSSubject.CommonName == m.readOnlySubject {
		return &authorization.Claims{
			Subject:  authInfo.TLSSubject.CommonName,
			AuthType: "tls",
			System:   authorization.RoleReader,
		}, nil
	}
	return m.jwt.GetClaims(authInfo)
}
