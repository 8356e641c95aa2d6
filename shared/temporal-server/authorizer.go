package main

import (
	"context"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/server/common/api"
	"go.temporal.io/server/common/authorization"
)

// roleAuthorizer gives each token permission one job. The stock authorizer orders roles
// (reader < writer < admin) and lets a writer poll task queues, so an operator's token could pose
// as a worker and complete activities with results of its choosing; here the worker permission is
// the only one that polls and completes tasks, and it can do nothing else but read what a worker
// needs (its namespace, the history of a workflow it replays).
type roleAuthorizer struct{}

// workerAPIs are what an SDK worker calls: polling, completing and failing tasks, heartbeats,
// and the reads it needs on start and on a sticky-cache miss.
var workerAPIs = map[string]bool{
	"PollWorkflowTaskQueue":           true,
	"PollActivityTaskQueue":           true,
	"PollNexusTaskQueue":              true,
	"RespondWorkflowTaskCompleted":    true,
	"RespondWorkflowTaskFailed":       true,
	"RespondQueryTaskCompleted":       true,
	"RespondActivityTaskCompleted":    true,
	"RespondActivityTaskFailed":       true,
	"RespondActivityTaskCanceled":     true,
	"RespondNexusTaskCompleted":       true,
	"RespondNexusTaskFailed":          true,
	"RecordActivityTaskHeartbeat":     true,
	"ResetStickyTaskQueue":            true,
	"ShutdownWorker":                  true,
	"RecordWorkerHeartbeat":           true,
	"FetchWorkerConfig":               true,
	"DescribeNamespace":               true,
	"GetWorkflowExecutionHistory":     true,
	"DescribeWorkerDeploymentVersion": true,
}

func (roleAuthorizer) Authorize(_ context.Context, claims *authorization.Claims, target *authorization.CallTarget) (authorization.Result, error) {
	if authorization.IsHealthCheckAPI(target.APIName) {
		return allow(claims), nil
	}
	if claims == nil {
		return deny("no valid token"), nil
	}
	if claims.System&authorization.RoleAdmin != 0 {
		return allow(claims), nil
	}
	metadata := api.GetMethodMetadata(target.APIName)
	var role authorization.Role
	switch metadata.Scope {
	case api.ScopeNamespace:
		role = claims.System | claims.Namespaces[target.Namespace]
	case api.ScopeCluster:
		role = claims.System
	default:
		return deny("unknown API"), nil
	}
	if role&authorization.RoleAdmin != 0 {
		return allow(claims), nil
	}
	method := api.MethodName(target.APIName)
	isWorkerAPI := workerAPIs[method] && target.APIName == api.WorkflowServicePrefix+method
	if isWorkerAPI {
		// Reading history is also an auditor's; the rest belongs to the worker alone.
		if role&authorization.RoleWorker != 0 ||
			(metadata.Access == api.AccessReadOnly && role&(authorization.RoleReader|authorization.RoleWriter) != 0) {
			return allow(claims), nil
		}
		return deny("polling and completing tasks is for worker tokens"), nil
	}
	switch metadata.Access {
	case api.AccessReadOnly:
		if role&(authorization.RoleReader|authorization.RoleWriter) != 0 {
			return allow(claims), nil
		}
	case api.AccessWrite:
		if role&authorization.RoleWriter != 0 {
			return allow(claims), nil
		}
	}
	return deny("the token's role does not allow " + method), nil
}

func allow(claims *authorization.Claims) authorization.Result {
	result := authorization.Result{Decision: authorization.DecisionAllow}
	if claims != nil {
		result.Principal = &commonpb.Principal{Type: claims.AuthType, Name: claims.Subject}
	}
	return result
}

func deny(reason string) authorization.Result {
	return authorization.Result{Decision: authorization.DecisionDeny, Reason: reason}
}
