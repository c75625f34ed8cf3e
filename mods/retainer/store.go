package retainer

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"

	"github.com/emqgo/broker/packets"
)

// bucketName is the bbolt bucket holding one record per retained topic:
// the key is the topic name, the value an encoded entry.
var bucketName = []byte("retained")

// store is the disc storage: a bbolt file.
type store struct {
	db *bbolt.DB
}

func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("retainer: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// The timeout makes a second process on the same file fail instead of
	// waiting for the file lock for ever.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("retainer: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("retainer: %s: %w", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

// each calls fn for every stored message. A record that cannot be decoded
// fails the load: the file is not from this format.
func (s *store) each(fn func(name string, e *entry)) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketName).ForEach(func(k, v []byte) error {
			e, err := decodeEntry(string(k), v)
			if err != nil {
				return fmt.Errorf("retainer: %s: topic %q: %w", s.db.Path(), k, err)
			}
			fn(string(k), e)
			return nil
		})
	})
}

// write makes the records of names match get, in one transaction, after
// emptying the bucket if cleared.
func (s *store) write(cleared bool, names []string, get func(string) (*entry, bool)) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		if cleared {
			if err := tx.DeleteBucket(bucketName); err != nil && !errors.Is(err, bbolt.ErrBucketNotFound) {
				return err
			}
			if _, err := tx.CreateBucket(bucketName); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketName)
		var buf []byte
		for _, name := range names {
			if name == "" {
				continue // bbolt refuses empty keys; topic names are never empty
			}
			e, ok := get(name)
			if !ok {
				if err := b.Delete([]byte(name)); err != nil {
					return err
				}
				continue
			}
			var err error
			if buf, err = appendEntry(buf[:0], e); err != nil {
				return err
			}
			// Put keeps a reference to the value until the transaction
			// ends: give it its own copy.
			if err := b.Put([]byte(name), append([]byte(nil), buf...)); err != nil {
				return err
			}
		}
		return nil
	})
}

// The record format, version 1:
//
//	byte    format version (1)
//	byte    QoS
//	byte    flags: 1 = MQTT 5 properties follow the payload
//	varint  timestamp, unix nanoseconds
//	varint  expiry time, unix nanoseconds; 0 = never
//	uvarint message ID
//	uvarint length, bytes: From
//	uvarint length, bytes: Username
//	uvarint length, bytes: Payload
//	[uvarint length, bytes: Properties as JSON]
const (
	formatV1  = 1
	flagProps = 1
)

func appendEntry(b []byte, e *entry) ([]byte, error) {
	m := &e.msg
	var flags byte
	var props []byte
	if m.Properties != nil {
		var err error
		if props, err = json.Marshal(m.Properties); err != nil {
			return nil, err
		}
		flags |= flagProps
	}
	b = append(b, formatV1, m.QoS, flags)
	b = binary.AppendVarint(b, m.Timestamp.UnixNano())
	b = binary.AppendVarint(b, e.expireAt)
	b = binary.AppendUvarint(b, m.ID)
	b = appendBytes(b, []byte(m.From))
	b = appendBytes(b, []byte(m.Username))
	b = appendBytes(b, m.Payload)
	if flags&flagProps != 0 {
		b = appendBytes(b, props)
	}
	return b, nil
}

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

var errCorrupt = errors.New("corrupt record")

func decodeEntry(name string, b []byte) (*entry, error) {
	if len(b) < 3 {
		return nil, errCorrupt
	}
	if b[0] != formatV1 {
		return nil, fmt.Errorf("unknown record format %d", b[0])
	}
	e := &entry{}
	m := &e.msg
	m.Topic, m.QoS, m.Retain = name, b[1], true
	flags := b[2]
	d := decoder{b: b[3:]}
	m.Timestamp = time.Unix(0, d.varint())
	e.expireAt = d.varint()
	m.ID = d.uvarint()
	m.From = string(d.bytes())
	m.Username = string(d.bytes())
	m.Payload = d.bytes()
	if flags&flagProps != 0 {
		raw := d.bytes()
		if d.err == nil {
			m.Properties = new(packets.Properties)
			if err := json.Unmarshal(raw, m.Properties); err != nil {
				return nil, fmt.Errorf("properties: %w", err)
			}
		}
	}
	if d.err != nil || len(d.b) != 0 || m.QoS > 2 {
		return nil, errCorrupt
	}
	return e, nil
}

// decoder reads the fields of a record; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns a copy of the next length-prefixed field: bbolt's values
// are only valid inside their transaction.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	p := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return p
}
