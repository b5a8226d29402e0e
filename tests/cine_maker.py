"""Test helper: a grey multi-frame XA DICOM (explicit VR little endian) written with pydicom.
Tests import it with sys.path.insert(0, LUMEN_SOURCE_DIR + '/tests')."""
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid


def write_cine(path, frames, study_uid=None, patient=None, angles=None, frame_time=None, bits_stored=None):
    """frames: (T, H, W) uint8 or uint16; angles: (primary, secondary) degrees or None."""
    frames = np.asarray(frames)
    bits = 8 * frames.dtype.itemsize
    stored = bits_stored or bits
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.12.1'
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Modality = study_uid or generate_uid(), generate_uid(), 'XA'
    if patient is not None:
        ds.PatientID = patient
    if angles:
        ds.PositionerPrimaryAngle, ds.PositionerSecondaryAngle = angles
    if frame_time:
        ds.FrameTime = frame_time
    ds.Rows, ds.Columns, ds.NumberOfFrames, ds.SamplesPerPixel = frames.shape[1], frames.shape[2], frames.shape[0], 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, stored, stored - 1, 0
    ds.PixelData = frames.tobytes()
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(path, write_like_original=False)
