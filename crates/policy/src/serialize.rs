//! Printing a policy back to JSON. The output parses to an equal `Policy` (a property test
//! and the fuzz target check this), though single-element lists come out as plain values.

use crate::ast::*;
use crate::condition::Scalar;
use serde_json::{Map, Value as J};

fn list(items: Vec<String>) -> J {
    if items.len() == 1 {
        items.into_iter().next().map_or(J::Null, J::String)
    } else {
        J::Array(items.into_iter().map(J::String).collect())
    }
}

impl Policy {
    pub fn to_json(&self) -> J {
        let mut doc = Map::new();
        if let Some(v) = self.version {
            doc.insert("Version".into(), J::String(v.as_str().into()));
        }
        if let Some(id) = &self.id {
            doc.insert("Id".into(), J::String(id.clone()));
        }
        let stmts = self.statements.iter().map(statement).collect();
        doc.insert("Statement".into(), J::Array(stmts));
        J::Object(doc)
    }

    pub fn to_json_string(&self) -> String {
        self.to_json().to_string()
    }
}

fn statement(st: &Statement) -> J {
    let mut m = Map::new();
    if let Some(sid) = &st.sid {
        m.insert("Sid".into(), J::String(sid.clone()));
    }
    let effect = match st.effect {
        Effect::Allow => "Allow",
        Effect::Deny => "Deny",
    };
    m.insert("Effect".into(), J::String(effect.into()));
    if let Some(p) = &st.principal {
        let key = if p.negated {
            "NotPrincipal"
        } else {
            "Principal"
        };
        let v = match &p.set {
            PrincipalSet::Star => J::String("*".into()),
            PrincipalSet::Typed(entries) => {
                let mut pm = Map::new();
                for (ty, vals) in entries {
                    let items = vals.iter().map(|v| v.source.clone()).collect();
                    pm.insert(ty.as_str().into(), list(items));
                }
                J::Object(pm)
            }
        };
        m.insert(key.into(), v);
    }
    let akey = if st.action.negated {
        "NotAction"
    } else {
        "Action"
    };
    let actions = st
        .action
        .patterns
        .iter()
        .map(|p| p.glob.to_source())
        .collect();
    m.insert(akey.into(), list(actions));
    if let Some(r) = &st.resource {
        let key = if r.negated { "NotResource" } else { "Resource" };
        m.insert(key.into(), list(r.patterns().collect()));
    }
    if !st.conditions.is_empty() {
        let mut cm = Map::new();
        for c in &st.conditions {
            let mut km = Map::new();
            for e in &c.entries {
                let vals: Vec<J> = e.values.iter().map(|v| scalar(&v.raw)).collect();
                let v = if vals.len() == 1 {
                    vals.into_iter().next().unwrap_or(J::Null)
                } else {
                    J::Array(vals)
                };
                km.insert(e.key.clone(), v);
            }
            cm.insert(c.op.name(), J::Object(km));
        }
        m.insert("Condition".into(), J::Object(cm));
    }
    J::Object(m)
}

fn scalar(s: &Scalar) -> J {
    match s {
        Scalar::String(s) => J::String(s.clone()),
        Scalar::Number(n) => J::Number(n.clone()),
        Scalar::Bool(b) => J::Bool(*b),
    }
}
