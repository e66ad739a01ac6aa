fn main() {
    let cases = [
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  labelz: {}\n",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [1]\n",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  ownerReferences:\n  - name: a\n",
        "---\n# c\n---\napiVersion: v1\nkind: Pod\nmetadata:\n\tname: x\n",
        "apiVersion: apps/v1\nkind: StatefulSet\n",
        "apiVersion: extensions/v1beta1\nkind: ReplicaSet\n",
        "apiVersion: batch/v1beta1\nkind: CronJob\n",
        "kind: Pod\n",
        "- a\n- b\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x, labels: {a: b,}, creationTimestamp: 'bogus'}\n",
        "{apiVersion: v1, kind: Pod, metadata: {name: x, # c\n labels: {a: b,},},}\n",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  name: y\n",
        "a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\napiVersion: v1\nkind: Pod\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n...\napiVersion: v1\nkind: Pod\nmetadata:\n  name: y\n",
    ];
    for c in cases {
        let p = skiff_core::manifest::parse("t.yaml", c);
        println!("{} ok, errors: {:#?}", p.documents.len(), p.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>());
    }
    let deep = "[".repeat(100000);
    let p = skiff_core::manifest::parse("deep.yaml", &deep);
    println!("{:?}", p.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>());
}
