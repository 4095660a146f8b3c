//! Parsing and converting X-Ray segment documents shaped like `combray loadgen xray`'s: the
//! work the UDP receiver does for every datagram.

use combray_ingest::xray::parse_document;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const SEGMENT: &str = r#"{"trace_id":"1-6b06a841-69cb3a08896fab530b612e6d","id":"14433295f04e6806","name":"backend-flask","start_time":1795598401.6366334,"end_time":1795598401.7377404,"origin":"AWS::EC2::Instance","http":{"request":{"method":"GET","url":"http://backend-flask:4567/api/activities/home","user_agent":"Mozilla/5.0","client_ip":"10.0.0.7"},"response":{"status":200,"content_length":512}},"fault":false,"user":"user-42","annotations":{"route":"/api/activities/home","result_length":17,"tier":"pro"},"metadata":{"cruddur":{"now":1795598401.6366334}},"aws":{"xray":{"sdk":"X-Ray for Python","sdk_version":"2.15.0"},"ec2":{"instance_id":"i-00000003","availability_zone":"us-east-1a"}},"subsegments":[{"id":"2b8e0b24b1ec7f1a","name":"user-service","namespace":"remote","start_time":1795598401.6386334,"end_time":1795598401.7166334,"http":{"request":{"method":"GET","url":"http://user-service/users/user-42"},"response":{"status":200}},"fault":false}]}"#;
const STREAMED: &str = r#"{"trace_id":"1-6b06a841-69cb3a08896fab530b612e6d","id":"aaaaaaaaaaaaaaaa","parent_id":"14433295f04e6806","type":"subsegment","name":"mock-data","start_time":1795598401.6376334,"end_time":1795598401.6386334,"annotations":{"rows":12}}"#;
const DOWNSTREAM: &str = r#"{"trace_id":"1-6b06a841-69cb3a08896fab530b612e6d","id":"bbbbbbbbbbbbbbbb","parent_id":"2b8e0b24b1ec7f1a","name":"user-service","start_time":1795598401.6396334,"end_time":1795598401.7136334,"fault":false,"http":{"request":{"method":"GET","url":"http://user-service/users/user-42"},"response":{"status":200}},"subsegments":[{"id":"cccccccccccccccc","name":"postgres","namespace":"remote","start_time":1795598401.6406334,"end_time":1795598401.7066334,"sql":{"database_type":"PostgreSQL","sanitized_query":"SELECT * FROM users WHERE id = $1"}}]}"#;

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("xray");
    group.throughput(Throughput::Elements(3));
    group.bench_function("parse_loadgen_trace_3_documents", |b| {
        b.iter(|| {
            for text in [STREAMED, DOWNSTREAM, SEGMENT] {
                std::hint::black_box(parse_document(text).expect("valid"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
